-- The flughafendb tables flightsite reads, as in the workshop's MySQL database
-- (names, types, keys and indexes). MySQL 8 / MariaDB 10.11+, utf8mb4.
-- Single source of truth together with schema/sqlite.sql; tests/test_schema.py checks that
-- the unmanaged Django models match the tables these files create.
-- Statements are separated by a line holding only ";" so the loader can split them safely.

CREATE TABLE IF NOT EXISTS `airport` (
  `airport_id` SMALLINT NOT NULL AUTO_INCREMENT,
  `iata` CHAR(3) DEFAULT NULL,
  `icao` CHAR(4) NOT NULL,
  `name` VARCHAR(50) NOT NULL,
  PRIMARY KEY (`airport_id`),
  UNIQUE KEY `icao_unq` (`icao`),
  KEY `name_idx` (`name`),
  KEY `iata_idx` (`iata`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `airport_geo` (
  `airport_id` SMALLINT NOT NULL,
  `name` VARCHAR(50) NOT NULL,
  `city` VARCHAR(50) DEFAULT NULL,
  `country` VARCHAR(50) DEFAULT NULL,
  `latitude` DECIMAL(11,8) NOT NULL,
  `longitude` DECIMAL(11,8) NOT NULL,
  `geolocation` POINT NOT NULL,
  KEY `flughafen_idx` (`airport_id`),
  SPATIAL KEY `geolocation_spt` (`geolocation`)
) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `airline` (
  `airline_id` SMALLINT NOT NULL AUTO_INCREMENT,
  `iata` CHAR(2) NOT NULL,
  `airlinename` VARCHAR(30) DEFAULT NULL,
  `base_airport` SMALLINT NOT NULL,
  PRIMARY KEY (`airline_id`),
  UNIQUE KEY `iata_unq` (`iata`),
  KEY `base_airport_idx` (`base_airport`),
  CONSTRAINT `airline_ibfk_1` FOREIGN KEY (`base_airport`) REFERENCES `airport` (`airport_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `airplane_type` (
  `type_id` INT NOT NULL AUTO_INCREMENT,
  `identifier` VARCHAR(50) DEFAULT NULL,
  `description` TEXT,
  PRIMARY KEY (`type_id`),
  KEY `identifier_idx` (`identifier`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `airplane` (
  `airplane_id` INT NOT NULL AUTO_INCREMENT,
  `capacity` MEDIUMINT UNSIGNED NOT NULL,
  `type_id` INT NOT NULL,
  `airline_id` INT NOT NULL,
  PRIMARY KEY (`airplane_id`),
  KEY `type_id` (`type_id`),
  CONSTRAINT `airplane_ibfk_1` FOREIGN KEY (`type_id`) REFERENCES `airplane_type` (`type_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `flight` (
  `flight_id` INT NOT NULL AUTO_INCREMENT,
  `flightno` CHAR(8) NOT NULL,
  `from` SMALLINT NOT NULL,
  `to` SMALLINT NOT NULL,
  `departure` DATETIME NOT NULL,
  `arrival` DATETIME NOT NULL,
  `airline_id` SMALLINT NOT NULL,
  `airplane_id` INT NOT NULL,
  PRIMARY KEY (`flight_id`),
  KEY `from_idx` (`from`),
  KEY `to_idx` (`to`),
  KEY `departure_idx` (`departure`),
  KEY `arrivals_idx` (`arrival`),
  KEY `airline_idx` (`airline_id`),
  KEY `airplane_idx` (`airplane_id`),
  KEY `flightno` (`flightno`),
  CONSTRAINT `flight_ibfk_1` FOREIGN KEY (`from`) REFERENCES `airport` (`airport_id`),
  CONSTRAINT `flight_ibfk_2` FOREIGN KEY (`to`) REFERENCES `airport` (`airport_id`),
  CONSTRAINT `flight_ibfk_3` FOREIGN KEY (`airline_id`) REFERENCES `airline` (`airline_id`),
  CONSTRAINT `flight_ibfk_4` FOREIGN KEY (`airplane_id`) REFERENCES `airplane` (`airplane_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `passenger` (
  `passenger_id` INT NOT NULL AUTO_INCREMENT,
  `passportno` CHAR(9) NOT NULL,
  `firstname` VARCHAR(100) NOT NULL,
  `lastname` VARCHAR(100) NOT NULL,
  PRIMARY KEY (`passenger_id`),
  UNIQUE KEY `pass_unq` (`passportno`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `passengerdetails` (
  `passenger_id` INT NOT NULL,
  `birthdate` DATE NOT NULL,
  `sex` CHAR(1) DEFAULT NULL,
  `street` VARCHAR(100) NOT NULL,
  `city` VARCHAR(100) NOT NULL,
  `zip` SMALLINT NOT NULL,
  `country` VARCHAR(100) NOT NULL,
  `emailaddress` VARCHAR(120) DEFAULT NULL,
  `telephoneno` VARCHAR(30) DEFAULT NULL,
  PRIMARY KEY (`passenger_id`),
  CONSTRAINT `passengerdetails_ibfk_1` FOREIGN KEY (`passenger_id`)
    REFERENCES `passenger` (`passenger_id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
CREATE TABLE IF NOT EXISTS `booking` (
  `booking_id` INT NOT NULL AUTO_INCREMENT,
  `flight_id` INT NOT NULL,
  `seat` CHAR(4) DEFAULT NULL,
  `passenger_id` INT NOT NULL,
  `price` DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (`booking_id`),
  UNIQUE KEY `sitzplan_unq` (`flight_id`,`seat`),
  KEY `flight_idx` (`flight_id`),
  KEY `passenger_idx` (`passenger_id`),
  CONSTRAINT `booking_ibfk_1` FOREIGN KEY (`flight_id`) REFERENCES `flight` (`flight_id`),
  CONSTRAINT `booking_ibfk_2` FOREIGN KEY (`passenger_id`) REFERENCES `passenger` (`passenger_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
;
